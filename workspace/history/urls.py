"""History pages under /history/."""

from django.urls import path

from workspace.history import views

urlpatterns = [
    path("", views.dashboard_all, name="history-all"),
    path("w/<int:workspace_id>/", views.dashboard_workspace, name="history-workspace"),
    path("spark/<int:request_id>/", views.spark_detail, name="history-spark"),
    path("jobs/<int:job_id>/", views.job_detail, name="history-job"),
]
