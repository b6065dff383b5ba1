"""作业人员任职与离职管理 (§4.5.7): operator database, certificates, employment processes, public lookup."""
