"""The shared model of Auteur: schemas, name rules, settings and file helpers.

Every other package (controller, api, worker, web) builds on this one; it imports
none of them.
"""
