"""Auteur workers: slow work off the request path (ingesting uploads, media jobs)."""
