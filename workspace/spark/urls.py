from django.urls import path

from workspace.spark import views

app_name = "spark"
urlpatterns = [path("settings/", views.settings_page, name="settings")]
