"""The press desk (``samverkan desk``): a web application where each party's people sign in
with a one-time link mailed to them, preview every upcoming message as it will be
published, approve it or ask for changes for their own party, and operators pause and
resume publishing. Built on Flask, served by waitress (see :mod:`samverkan.desk.server`)."""
