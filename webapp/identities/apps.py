from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "webapp.identities"
    label = "identities"
