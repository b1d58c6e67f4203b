"""nbgrader for the class day: hand out the worksheet, collect every pair's work, grade, export.

The pieces and where they run:

- :mod:`.course`: the course (id, assignments, language) from ``hub/course/course.toml``;
- :mod:`.service`: the exchange service, a JupyterHub service in the hub container that
  stores releases and submissions and learns *who* is asking only from the hub's token check;
- :mod:`.client`: nbgrader Exchange classes for the pairs' containers, which talk to that
  service over HTTP with the container's ``JUPYTERHUB_API_TOKEN``;
- :mod:`.grader`: release, collect, autograde, feedback and export, run by the organiser in a
  one-off grader container next to the hub;
- :mod:`.commands`: ``masterclass class release | collect | export``.

docs/grading.md explains the design. Nothing here imports TensorFlow.
"""
