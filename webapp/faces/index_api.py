"""API over the similarity index: "more faces like this", near duplicates, index status and rebuild."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from webapp.core.params import query_int
from webapp.core.permissions import IsAdmin, IsAnnotator
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.serializers import JobSerializer
from webapp.core.services import job_require_sent, job_start

from . import index
from .models import Face
from .serializers import FaceSerializer


class SimilarFaceSerializer(serializers.Serializer):
    score = serializers.FloatField(help_text="Cosine similarity of the embeddings.")
    face = FaceSerializer()


@extend_schema(
    parameters=[
        OpenApiParameter(
            "k", {"type": "integer", "minimum": 1, "maximum": 200}, description="How many faces (1-200, default 20)."
        )
    ],
    responses=inline_serializer(
        "SimilarFaces",
        {
            "face": serializers.IntegerField(),
            "index_version": serializers.IntegerField(allow_null=True),
            "results": SimilarFaceSerializer(many=True),
            "neighbour_labels": serializers.DictField(),
        },
    ),
)
@api_view(["GET"])
@permission_classes([IsAnnotator])
def similar_faces(request, pk: int):
    """More faces like this one: its nearest neighbours in the similarity index, best first, and how
    they are labelled (`neighbour_labels.disagrees` flags a label its neighbours contradict)."""
    face = get_object_or_404(Face, pk=pk)
    k = query_int(request.query_params, "k", min_value=1, max_value=200, default=20)
    neighbours = index.faces_similar(face=face, k=k)
    manifest = index.index_manifest()
    return Response(
        {
            "face": face.pk,
            "index_version": manifest["version"] if manifest else None,
            "results": [{"score": round(score, 4), "face": FaceSerializer(other).data} for other, score in neighbours],
            "neighbour_labels": index.face_neighbour_labels(face=face, k=min(k, 10), neighbours=neighbours),
        }
    )


class NearDuplicateFilter(django_filters.FilterSet):
    class Meta:
        model = Face
        fields = ["duplicate_of", "identity", "group_key", "source", "split", "video", "photo"]


class NearDuplicateList(generics.ListAPIView):
    """Faces that nearly duplicate an earlier face (`duplicate_of`), e.g. `?duplicate_of=<id>` for one
    face's duplicates. A near duplicate always shares its original's group and split."""

    serializer_class = FaceSerializer
    permission_classes = [IsAnnotator]
    filterset_class = NearDuplicateFilter
    ordering_fields = ["id", "duplicate_of"]

    def get_queryset(self):
        return Face.objects.filter(duplicate_of__isnull=False).select_related("identity").defer("embedding")


@extend_schema(
    responses=inline_serializer(
        "IndexStatus",
        {
            "version": serializers.IntegerField(allow_null=True),
            "count": serializers.IntegerField(),
            "embedded_faces": serializers.IntegerField(),
            "embedding_model": serializers.CharField(),
        },
    )
)
@api_view(["GET"])
@permission_classes([IsAnnotator])
def index_status(request):
    """The similarity index: its version and size, next to how many faces have an embedding."""
    manifest = index.index_manifest() or {"version": None, "count": 0}
    embedded = Face.objects.filter(embedding__isnull=False, embedding_model=index.embedding_model()).count()
    return Response({**manifest, "embedded_faces": embedded, "embedding_model": index.embedding_model()})


@extend_schema(request=None, responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE})
@api_view(["POST"])
@permission_classes([IsAdmin])
def index_rebuild(request):
    """Rebuild the similarity index from every stored embedding, in a job (`faces.rebuild_index`)."""
    job = job_start(kind="faces.rebuild_index", user=request.user)
    job_require_sent(job)
    return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
