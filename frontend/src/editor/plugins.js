// Editor plugins. A plugin default-exports `{ name, install(app) }` (the `app` API is documented in ./app.js);
// install(app) runs once the editor is ready.
// To add yours, append ONE line at the end of this file (imports are hoisted; the push runs in order):
//   import spark from '../spark/index.js'; plugins.push(spark);
// One plugin per line keeps parallel edits trivially mergeable.

export const plugins = [];
import spark from '../spark/index.js'; plugins.push(spark);
import jobs from '../jobs/index.js'; plugins.push(jobs);
import teams from '../teams/index.js'; plugins.push(teams);
import repos from '../repos/index.js'; plugins.push(repos);
import terminal from '../terminal/index.js'; plugins.push(terminal);
import git from '../git/index.js'; plugins.push(git);
import blame from '../blame/index.js'; plugins.push(blame);
import history from '../history/index.js'; plugins.push(history);
import checkpoints from '../checkpoints/index.js'; plugins.push(checkpoints);
