"""Task operations (issue 3 part B): 转办, 委派/归还, 催办, 抄送, 审批意见/手写签名 — see docs/任务操作.md."""
