"""Team pages under /teams/."""

from django.urls import path

from workspace.teams import views

urlpatterns = [
    path("invite/<str:token>/", views.accept_invite, name="teams-accept-invite"),
]
