"""Factories for rows. Faces get a real JPEG crop unless a test passes its own."""

from __future__ import annotations

import io

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from PIL import Image

from ml.splits import split_for_group
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.media.models import Frame, Photo, Video


def unit_vector(seed: int, dim: int = 128) -> np.ndarray:
    """A random unit-length float32 embedding (for index tests that need no real face)."""
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def jpeg_bytes(seed: int = 0, size: int = 112) -> bytes:
    """A small JPEG of random pixels (for rows whose image content does not matter)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            group, _ = Group.objects.get_or_create(name=extracted)
            self.groups.add(group)
        if create:
            self.save()


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    name = factory.Sequence(lambda n: f"Person {n}")
    role = Identity.Role.CANDIDATE
    popularity_rank = factory.Sequence(lambda n: n + 1)


class FaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Face

    source = Face.Source.CROP
    identity = factory.SubFactory(IdentityFactory)
    source_path = factory.Sequence(lambda n: f"imported/{n}.jpg")
    group_key = factory.Sequence(lambda n: f"crop:{n}")
    split = factory.LazyAttribute(lambda face: split_for_group(face.group_key))
    crop = factory.LazyAttribute(lambda face: ContentFile(jpeg_bytes(hash(face.group_key) % 1000), name="face.jpg"))

    class Params:
        # FaceFactory(vector=unit_vector(3)) stores that embedding as the face's (sface) embedding.
        vector = None

    embedding = factory.LazyAttribute(
        lambda face: None if face.vector is None else np.asarray(face.vector, dtype=np.float32).tobytes()
    )
    embedding_model = factory.LazyAttribute(lambda face: "" if face.vector is None else "sface-2021dec-int8bq")


class PhotoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Photo

    original_name = factory.Sequence(lambda n: f"photo{n}.jpg")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    image = factory.LazyFunction(lambda: ContentFile(jpeg_bytes(1, 64), name="photo.jpg"))


class VideoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Video

    original_name = factory.Sequence(lambda n: f"video{n}.mp4")
    sha256 = factory.Sequence(lambda n: f"{n + 10**6:064x}")
    file = factory.LazyFunction(lambda: ContentFile(b"\x00" * 16, name="video.mp4"))


class FrameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Frame

    video = factory.SubFactory(VideoFactory)
    index = factory.Sequence(lambda n: n * 10)
    timestamp = factory.LazyAttribute(lambda frame: frame.index / 30.0)
    image = factory.LazyFunction(lambda: ContentFile(jpeg_bytes(2, 64), name="frame.jpg"))
