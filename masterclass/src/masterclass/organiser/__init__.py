"""The organiser side: ``masterclass class …``, from the login cards to deleting the data.

The commands live one per module in :mod:`masterclass.organiser.commands`; they reach
the running stack through a few small modules of their own:

- :mod:`~masterclass.organiser.settings`: what the CLI knows about the stack (environment,
  ``.env``, defaults);
- :mod:`~masterclass.organiser.docker`: the Docker engine and the stack's containers;
- :mod:`~masterclass.organiser.state`: the hub's state files (roster, tokens, markers);
- :mod:`~masterclass.organiser.api`: the JupyterHub REST API;
- :mod:`~masterclass.organiser.classfiles`: the organiser's own files on this machine.

Nothing here imports TensorFlow: it runs on the hub and on bare servers
(``pip install 'masterclass[organiser]'``).
"""
