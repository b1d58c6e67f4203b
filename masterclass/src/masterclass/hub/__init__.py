"""Hub-side pieces of Masterclass Hub: the roster authenticator and hub state helpers.

Nothing here imports TensorFlow: this package runs inside the small hub image.
"""
