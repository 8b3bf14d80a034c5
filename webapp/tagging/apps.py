from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "webapp.tagging"
    label = "tagging"
    verbose_name = "Video tagging"
