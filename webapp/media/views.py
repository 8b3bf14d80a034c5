from django.db.models import Count
from rest_framework import viewsets

from .models import Frame, Photo, Video
from .serializers import FrameSerializer, PhotoSerializer, VideoSerializer


class PhotoViewSet(viewsets.ReadOnlyModelViewSet):
    """Uploaded source photos and the state of their face detection."""

    serializer_class = PhotoSerializer
    queryset = Photo.objects.annotate(face_count=Count("faces"))
    filterset_fields = ["status", "identity_hint"]
    ordering_fields = ["created_at", "id"]


class VideoViewSet(viewsets.ReadOnlyModelViewSet):
    """Uploaded videos, sampled into frames."""

    serializer_class = VideoSerializer
    queryset = Video.objects.annotate(face_count=Count("faces"))
    filterset_fields = ["status"]
    ordering_fields = ["created_at", "id"]


class FrameViewSet(viewsets.ReadOnlyModelViewSet):
    """Sampled video frames."""

    serializer_class = FrameSerializer
    queryset = Frame.objects.all()
    filterset_fields = ["video"]
    ordering_fields = ["index"]
