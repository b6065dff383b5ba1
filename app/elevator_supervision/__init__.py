"""电梯维保监管: maintenance warnings (rules/elevator_warning.dmn), overdue plans, statistics and the
full-cycle trace of one elevator, over the work orders of app/elevators."""
