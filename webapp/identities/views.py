import django_filters
from rest_framework import viewsets

from webapp.core.permissions import ReadAnnotatorWriteAdmin

from . import selectors, services
from .models import Identity
from .serializers import IdentitySerializer


class IdentityFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    merged = django_filters.BooleanFilter(field_name="merged_into", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Identity
        fields = ["role", "chunk", "search", "merged"]


class IdentityViewSet(viewsets.ModelViewSet):
    """People: VIPs and candidates. Annotators read; admins create, rename and reorder."""

    serializer_class = IdentitySerializer
    permission_classes = [ReadAnnotatorWriteAdmin]
    filterset_class = IdentityFilter
    ordering_fields = ["name", "popularity_rank", "created_at", "face_count"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.identities_with_counts()

    def perform_create(self, serializer):
        serializer.instance = services.identity_create(**serializer.validated_data)
