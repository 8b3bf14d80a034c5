from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "webapp.quality"
    label = "quality"
    verbose_name = "Annotator quality: gold faces and agreement"
