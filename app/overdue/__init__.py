"""超期未检专项整治 (§4.5.2): the ledger of devices by due state, 误报纠正, disposal cases on
workflows/overdue_inspection.bpmn, 超期未检处理记录, 公告注销 and its public page."""
