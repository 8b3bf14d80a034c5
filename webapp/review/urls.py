"""Review routes, mounted under /api/v1/review/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("queues", views.QueueViewSet, basename="review-queue")

urlpatterns = [
    path("decisions/", views.decisions, name="review-decisions"),
    path("operations/<uuid:operation>/undo/", views.operation_undo, name="review-operation-undo"),
    path("progress/", views.progress, name="review-progress"),
    path("", include(router.urls)),
]
