from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from webapp.core import views as core_views
from webapp.core import web
from webapp.curation.views import FaceViewSet, IdentityViewSet
from webapp.faces import index_api
from webapp.faces import views as faces_views
from webapp.faces.views import LabelEventViewSet
from webapp.media.views import FrameViewSet, ImportViewSet, PhotoViewSet
from webapp.tagging.views import VideoViewSet

router = DefaultRouter()
router.register("identities", IdentityViewSet, basename="identity")
router.register("faces", FaceViewSet, basename="face")
router.register("label-events", LabelEventViewSet, basename="labelevent")
router.register("photos", PhotoViewSet, basename="photo")
router.register("videos", VideoViewSet, basename="video")
router.register("frames", FrameViewSet, basename="frame")
router.register("imports", ImportViewSet, basename="import")
router.register("jobs", core_views.JobViewSet, basename="job")
router.register("users", core_views.UserViewSet, basename="user")

api_v1: list[URLPattern | URLResolver] = [
    path("me/", faces_views.me, name="me"),
    path("auth/token/", core_views.token, name="token"),
    path("auth/token/rotate/", core_views.token_rotate, name="token-rotate"),
    path("faces/<int:pk>/similar/", index_api.similar_faces, name="face-similar"),
    path("near-duplicates/", index_api.NearDuplicateList.as_view(), name="near-duplicates"),
    path("index/", index_api.index_status, name="index-status"),
    path("index/rebuild/", index_api.index_rebuild, name="index-rebuild"),
    path("review/", include("webapp.review.urls")),
    path("annotators/", include("webapp.quality.urls")),
    path("", include("webapp.training.urls")),
    path("", include("webapp.tagging.urls")),
    path("exports/", include("webapp.exports.urls")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    re_path(r"^media/(?P<path>.+)$", web.media_file, name="media"),
    re_path(r"^(?!api/|admin/|static/|media/|accounts/)(?P<path>.*)$", web.spa, name="spa"),
]

handler400 = "webapp.core.error_pages.bad_request"
handler404 = "webapp.core.error_pages.not_found"
handler500 = "webapp.core.error_pages.server_error"
