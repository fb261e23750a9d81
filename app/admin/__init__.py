"""Administration (管理): users, org units and roles over the API, with their own audit log."""
