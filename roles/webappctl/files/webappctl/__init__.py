"""webappctl: the host-side program that makes every change to the app on its host (deploy,
rollback, restore, backup, verify, recover) as journaled transactions under one lock."""
