"""Segmentors of the plugin."""

from .region_encoder_decoder import RegionEncoderDecoder, image_region_map

__all__ = ["RegionEncoderDecoder", "image_region_map"]
