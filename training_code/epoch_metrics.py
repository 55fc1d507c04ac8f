"""Per-epoch metric lines in the format SageMaker's metric regexes read (see ``contract``)."""

from __future__ import annotations

from typing import Any

import keras

import contract


class MetricLineLogger(keras.callbacks.Callback):
    """Prints ``contract.format_metric_line`` after every epoch, flushed at once.

    Flushing matters: SageMaker scrapes the log stream, and a buffered line would
    reach CloudWatch (and the tuner) only when the process exits. Epochs are
    numbered from 1, like Keras' own "Epoch 3/12". Only the chief prints, so a
    multi-worker job reports each epoch once.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.enabled:
            values = {name: float(value) for name, value in (logs or {}).items()}
            print(contract.format_metric_line(epoch + 1, values), flush=True)
