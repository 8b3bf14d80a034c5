"""Curation: what changes identities through their faces and what curators browse across apps.

Merges, splits and their undo move faces between identities; merge and split suggestions come
from face embeddings and a training run's confusion. This app sits above identities, faces and
training, so none of them imports it (the app order is in tests/test_project.py).
"""
