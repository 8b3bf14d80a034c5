from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "webapp.media"
    label = "media"
    verbose_name = "Photos and videos"
