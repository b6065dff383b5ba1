// 退回: show the note inputs of the chosen target step; highlight fields the reviewer annotated.
(function () {
  "use strict";
  var select = document.querySelector("[data-return-target]");
  function showNotes() {
    document.querySelectorAll("[data-notes-for]").forEach(function (set) {
      set.disabled = !select || set.getAttribute("data-notes-for") !== select.value;
      set.hidden = set.disabled;
    });
  }
  if (select) {
    select.addEventListener("change", showNotes);
    showNotes();
  }
  var data = document.getElementById("review-notes-data");
  if (!data) return;
  var notes = JSON.parse(data.textContent || "{}");
  Object.keys(notes).forEach(function (field) {
    var box = document.querySelector('.task-form .field[data-field="' + field + '"]');
    if (!box) return;
    box.classList.add("review-flagged");
    var note = document.createElement("div");
    note.className = "review-flag-note";
    note.setAttribute("role", "note");
    note.textContent = "审查意见：" + notes[field];
    var label = box.querySelector("label");
    if (label && label.nextSibling) box.insertBefore(note, label.nextSibling); else box.appendChild(note);
  });
})();
