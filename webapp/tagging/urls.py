"""Tagging routes, mounted under /api/v1/ (before the main router, so /videos/{id}/tags/ resolves here)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("tags", views.VideoTagViewSet, basename="videotag")

urlpatterns = [
    path("videos/<int:pk>/tags/", views.video_tags, name="video-tags"),
    path("videos/<int:pk>/predictions/", views.VideoPredictionList.as_view(), name="video-predictions"),
    path("", include(router.urls)),
]
