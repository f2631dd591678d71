"""An activation of your own with weights of its own, outside the project: ACON-C (Ma et al. 2021,
"Activate or Not: Learning Customized Activation", CVPR), a learned switch between linear and
non-linear:

    f(x) = (p1 − p2)·x·σ(β·(p1 − p2)·x) + p2·x      with p1, p2, β learned per channel

With p1 = 1, p2 = 0, β = 1 it is Swish; as β grows it tends to max(p1·x, p2·x), a learned leaky ReLU.
Used with examples/acon_c/activation/acon_c.yaml:
    python -m challenge acon_c --config-dir examples/acon_c
"""

import keras


class AconC(keras.layers.Layer):
    """ACON-C with one (p1, p2, β) per unit of a dense layer or per channel of a convolution (the
    last axis). The paper's code draws p1 and p2 from N(0, 1) and starts β at 1; the draws are
    seeded by the harness (`set_seed`, called in build order), so a seed gives the same network."""

    def __init__(self, p_std: float = 1.0, beta_init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.p_std, self.beta_init = float(p_std), float(beta_init)
        self.seed = 0

    def set_seed(self, seed: int) -> None:
        self.seed = int(seed)

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.p1 = self.add_weight(name="p1", shape=channels, initializer=keras.initializers.RandomNormal(0.0, self.p_std, seed=self.seed))
        self.p2 = self.add_weight(name="p2", shape=channels,
                                  initializer=keras.initializers.RandomNormal(0.0, self.p_std, seed=self.seed + 1))
        self.beta = self.add_weight(name="beta", shape=channels, initializer=keras.initializers.Constant(self.beta_init))
        super().build(input_shape)

    def call(self, x):
        switched = (self.p1 - self.p2) * x
        return switched * keras.ops.sigmoid(self.beta * switched) + self.p2 * x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "p_std": self.p_std, "beta_init": self.beta_init}
