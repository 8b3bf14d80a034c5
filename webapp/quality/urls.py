"""Annotator quality routes, mounted under /api/v1/annotators/."""

from django.urls import path

from . import views

urlpatterns = [
    path("quality/", views.quality, name="annotators-quality"),
    path("quality/me/", views.quality_me, name="annotators-quality-me"),
    path("gold/refresh/", views.gold_refresh, name="annotators-gold-refresh"),
    path("<int:pk>/decisions/", views.decisions, name="annotator-decisions"),
    path("<int:pk>/decisions/undo/", views.decisions_undo, name="annotator-decisions-undo"),
    path("<int:pk>/held/accept/", views.held_accept, name="annotator-held-accept"),
    path("<int:pk>/held/discard/", views.held_discard, name="annotator-held-discard"),
    path("<int:pk>/decisions/second-review/", views.decisions_second_review, name="annotator-decisions-second-review"),
]
