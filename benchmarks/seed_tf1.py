"""The seed's TF1 variational autoencoder, run under TensorFlow 2's tf.compat.v1.

A faithful port of the seed (Géron, Hands-On Machine Learning 1st ed., ch. 15,
as copied in /work/shared/seed). What changed, and only because TF 2 requires it:

- ``import tensorflow.compat.v1 as tf`` and ``tf.disable_v2_behavior()``;
- ``tf.contrib.layers.variance_scaling_initializer()`` (contrib is gone) ->
  ``tf.variance_scaling_initializer(2.0, "fan_in", "truncated_normal")``,
  the same distribution (contrib's defaults: factor 2, fan-in, truncated normal);
- ``tf.layers.dense`` lives in tf-keras now (``TF_USE_LEGACY_KERAS=1``);
- ``tensorflow.examples.tutorials.mnist.input_data`` is gone: ``SeedMNIST``
  below reads the same IDX files and does what its ``next_batch`` did
  (55,000 training images after 5,000 for validation, pixels / 255, a new
  shuffle each epoch);
- ``reset_graph()`` (a helper from the book's notebook) is inlined.

Runs in its own virtual environment (see benchmarks/README.md, ``make bench-tf1``):

    /work/tfvenv/bin/python benchmarks/seed_tf1.py --epochs 50      # the seed's run
    /work/tfvenv/bin/python benchmarks/seed_tf1.py --serve          # for bench_tf1.py

``--serve`` builds the same graph and then, for each line ``N`` on stdin,
runs N training steps and answers with the seconds they took: this lets
bench_tf1.py alternate it with vaekit inside one run.
"""

import argparse
import gzip
import os
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class SeedMNIST:
    """What ``input_data.read_data_sets(...).train`` gave the seed."""

    VALIDATION = 5000

    def __init__(self, root: Path, seed: int = 0):
        images = read_idx(root / "MNIST" / "raw" / "train-images-idx3-ubyte")
        self.images = images[self.VALIDATION :].reshape(-1, 28 * 28).astype(np.float32) / 255.0
        self.num_examples = len(self.images)
        self.rng = np.random.RandomState(seed)
        self.order = self.rng.permutation(self.num_examples)
        self.position = 0

    def next_batch(self, batch_size):
        if self.position + batch_size > self.num_examples:
            self.order = self.rng.permutation(self.num_examples)
            self.position = 0
        index = self.order[self.position : self.position + batch_size]
        self.position += batch_size
        return self.images[index], None


def build_graph():
    """The seed's graph, line for line (its comments translated)."""
    tf.reset_default_graph()
    tf.set_random_seed(42)
    np.random.seed(42)

    n_inputs = 28 * 28  # input neurons: one per MNIST pixel
    n_hidden1 = 500
    n_hidden2 = 500
    n_hidden3 = 20  # the coding layer, in the middle
    n_hidden4 = n_hidden2  # symmetric
    n_hidden5 = n_hidden1  # symmetric
    n_outputs = n_inputs  # symmetric

    learning_rate = 0.001
    initializer = tf.variance_scaling_initializer(2.0, "fan_in", "truncated_normal")  # He initialisation
    my_dense_layer = partial(tf.layers.dense, activation=tf.nn.elu, kernel_initializer=initializer)

    X = tf.placeholder(tf.float32, [None, n_inputs])
    hidden1 = my_dense_layer(X, n_hidden1)
    hidden2 = my_dense_layer(hidden1, n_hidden2)
    hidden3_mean = my_dense_layer(hidden2, n_hidden3, activation=None)  # mean coding
    hidden3_sigma = my_dense_layer(hidden2, n_hidden3, activation=None)  # standard deviation coding
    noise = tf.random_normal(tf.shape(hidden3_sigma), dtype=tf.float32)  # Gaussian noise
    hidden3 = hidden3_mean + hidden3_sigma * noise  # the coding: mean + sigma * noise
    hidden4 = my_dense_layer(hidden3, n_hidden4)
    hidden5 = my_dense_layer(hidden4, n_hidden5)
    logits = my_dense_layer(hidden5, n_outputs, activation=None)
    outputs = tf.sigmoid(logits)  # noqa: F841  (the seed used it to show reconstructions)

    xentropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=X, logits=logits)
    reconstruction_loss = tf.reduce_sum(xentropy)
    eps = 1e-10  # keeps 0 out of tf.log
    latent_loss = 0.5 * tf.reduce_sum(
        tf.square(hidden3_sigma) + tf.square(hidden3_mean) - 1 - tf.log(eps + tf.square(hidden3_sigma))
    )
    loss = reconstruction_loss + latent_loss

    optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
    training_op = optimizer.minimize(loss)
    init = tf.global_variables_initializer()
    return X, training_op, loss, reconstruction_loss, latent_loss, init


def session(threads):
    # The seed used a plain tf.Session(); the thread count is pinned only so
    # that a benchmark gives both frameworks the same number of cores.
    if threads is None:
        return tf.Session()
    config = tf.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    return tf.Session(config=config)


def train(mnist, n_epochs, batch_size, threads):
    """The seed's training loop (its progress line kept, its saver left out)."""
    X, training_op, loss, reconstruction_loss, latent_loss, init = build_graph()
    with session(threads) as sess:
        init.run()
        for epoch in range(n_epochs):
            n_batches = mnist.num_examples // batch_size
            start = time.perf_counter()
            for iteration in range(n_batches):
                print("\r{}%".format(100 * iteration // n_batches), end="")
                sys.stdout.flush()
                X_batch, y_batch = mnist.next_batch(batch_size)
                sess.run(training_op, feed_dict={X: X_batch})
            seconds = time.perf_counter() - start
            loss_val, reconstruction_loss_val, latent_loss_val = sess.run(
                [loss, reconstruction_loss, latent_loss], feed_dict={X: X_batch}
            )
            print("\r{}".format(epoch), "Train total loss:", loss_val, "\tReconstruction loss:",
                  reconstruction_loss_val, "\tLatent loss:", latent_loss_val, f"\t{seconds:.1f} s")


def serve(mnist, batch_size, threads):
    """Answer each stdin line N with the seconds N training steps took (and the last loss)."""
    X, training_op, loss, _, _, init = build_graph()
    with session(threads) as sess:
        init.run()
        print(f"ready tensorflow {tf.__version__}", flush=True)
        for line in sys.stdin:
            steps = int(line)
            start = time.perf_counter()
            for _ in range(steps):
                X_batch, _ = mnist.next_batch(batch_size)
                sess.run(training_op, feed_dict={X: X_batch})
            seconds = time.perf_counter() - start
            last = sess.run(loss, feed_dict={X: X_batch}) / batch_size
            print(f"{seconds} {last}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("VAEKIT_DATA", "data"), help="folder holding MNIST/raw/")
    parser.add_argument("--epochs", type=int, default=50, help="the seed's n_epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=150, help="the seed's batch_size (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="intra- and inter-op threads (default: TensorFlow's)")
    parser.add_argument("--serve", action="store_true", help="take step counts on stdin (see the module docstring)")
    args = parser.parse_args()
    mnist = SeedMNIST(Path(args.data))
    if args.serve:
        serve(mnist, args.batch_size, args.threads)
    else:
        train(mnist, args.epochs, args.batch_size, args.threads)


if __name__ == "__main__":
    main()
