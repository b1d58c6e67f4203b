"""nbgrader in a pair's container: every exchange step goes to the class hub's exchange service.

Installed as /opt/venv/etc/jupyter/nbgrader_config.py. The classes send the server's
JUPYTERHUB_API_TOKEN; the service takes the pair's name from the hub's answer to it,
so --student and JUPYTERHUB_USER have no say (docs/grading.md).
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# JupyterLab's assignment list and `nbgrader list | fetch_assignment | submit | fetch_feedback`.
c.ExchangeFactory.list = "masterclass.grading.client.ExchangeList"
c.ExchangeFactory.fetch_assignment = "masterclass.grading.client.ExchangeFetchAssignment"
c.ExchangeFactory.submit = "masterclass.grading.client.ExchangeSubmit"
c.ExchangeFactory.fetch_feedback = "masterclass.grading.client.ExchangeFetchFeedback"
