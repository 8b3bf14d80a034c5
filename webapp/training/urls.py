"""Training routes, mounted under /api/v1/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("runs", views.RunViewSet, basename="run")
router.register("chunks", views.ChunkViewSet, basename="chunk")

urlpatterns = [
    path("operating-point/", views.operating_point, name="operating-point"),
    path("status/", views.curation_status, name="curation-status"),
    path("active-model/rollback/", views.active_model_rollback, name="active-model-rollback"),
    path("", include(router.urls)),
]
