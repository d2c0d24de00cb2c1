"""Per-file authorship over time: blame of every line (person or model), AI lines awaiting review, summaries."""
