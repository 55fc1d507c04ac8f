"""The model: a small CNN for grayscale digit-like images (after keras-io's mnist_convnet)."""

from __future__ import annotations

import keras
from keras import layers


def build_model(height: int, width: int, channels: int, num_classes: int) -> keras.Model:
    """A CNN whose input is the serving input: flattened raw pixels, 0..255, float32.

    Reshaping and rescaling happen inside the model, so the graph that is trained is
    the graph that is served and the callers never preprocess. The last layer stays
    float32 under mixed precision so the probabilities are float32 and sum to 1.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(height * width * channels,), name="features"),
            layers.Reshape((height, width, channels)),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(32, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Conv2D(64, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities"),
        ],
        name="digits_cnn",
    )
