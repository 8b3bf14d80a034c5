from rest_framework.routers import SimpleRouter

from .views import DatasetVersionViewSet, ExportFileViewSet

router = SimpleRouter()
router.register("versions", DatasetVersionViewSet, basename="datasetversion")
router.register("files", ExportFileViewSet, basename="exportfile")

urlpatterns = router.urls
