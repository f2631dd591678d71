"""An activation of your own, outside the project: Serf (Nag & Bhattacharyya 2021), x·erf(ln(1 + eˣ)).

Used with examples/serf/activation/serf.yaml:
    python -m run --config-dir examples/serf activation=serf
"""

import keras


def serf(x):
    """x·erf(softplus(x)): smooth, non-monotonic, self-regularized, like Mish with erf for tanh."""
    return x * keras.ops.erf(keras.ops.softplus(x))
