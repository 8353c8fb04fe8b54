"""samverkan: plan, preview and publish the joint public-safety communication of a
municipality and the police."""

__version__ = "0.1.0"
