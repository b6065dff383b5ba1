"""Process administration (流程管理): edit, validate, version, deploy and migrate BPMN, DMN and forms."""
