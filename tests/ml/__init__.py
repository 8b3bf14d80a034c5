"""Tests of the ml/ library (no Django)."""
