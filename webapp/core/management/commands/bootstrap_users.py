"""Create the demo's admin and annotator accounts once, and print how to log in."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from webapp.core import accounts


class Command(BaseCommand):
    help = "Create an 'admin' and an 'annotator' account (if missing) and print their credentials."

    def add_arguments(self, parser):
        parser.add_argument("--admin", default="admin")
        parser.add_argument("--annotator", default="annotator")

    def handle(self, *args, **options):
        credentials_file = settings.VAR_DIR / "demo-credentials.txt"
        known = {}
        if credentials_file.exists():
            for line in credentials_file.read_text().splitlines():
                name, _, password = line.partition(" ")
                known[name] = password
        lines = []
        for username, role in ((options["admin"], "admin"), (options["annotator"], "annotator")):
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(9)
                user = accounts.user_create(username=username, password=password, role=role)
                if role == "admin":
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
                known[username] = password
            lines.append(
                f"{username} {known.get(username, '(set earlier; reset with: manage.py changepassword ' + username + ')')}"
            )
        tmp = credentials_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.chmod(0o600)
        tmp.replace(credentials_file)
        self.stdout.write(self.style.SUCCESS("Log in with:"))
        for line in lines:
            name, _, password = line.partition(" ")
            self.stdout.write(f"  user {name:<10} password {password}")
