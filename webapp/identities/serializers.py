from rest_framework import serializers

from .models import Identity


class IdentitySerializer(serializers.ModelSerializer):
    face_count = serializers.IntegerField(read_only=True)
    verified_count = serializers.IntegerField(read_only=True)
    train_count = serializers.IntegerField(read_only=True)
    val_count = serializers.IntegerField(read_only=True)
    test_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Identity
        fields = [
            "id", "name", "aliases", "popularity_rank", "role", "chunk", "notes", "merged_into",
            "face_count", "verified_count", "train_count", "val_count", "test_count", "created_at", "updated_at",
        ]
        read_only_fields = ["chunk", "merged_into", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A name is required.")
        return value

    def validate_aliases(self, value):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise serializers.ValidationError("Aliases must be a list of names.")
        return value
