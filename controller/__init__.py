"""The Auteur controller: converges ``workspace/`` toward the spec files in ``specs/``."""
