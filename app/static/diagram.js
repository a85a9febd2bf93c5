// Render the regulation's BPMN diagram with bpmn-js's viewer (read-only), fitted to the box.
(function () {
  const box = document.getElementById("diagram");
  const status = document.getElementById("diagram-status");
  if (!box || !window.BpmnJS) { return; }
  const viewer = new window.BpmnJS({ container: box });
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then((answer) => {
      if (!answer.ok) { throw new Error("the diagram answered " + answer.status); }
      return answer.text();
    })
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      viewer.get("canvas").zoom("fit-viewport");
      box.dataset.rendered = "true";
    })
    .catch((error) => { status.textContent = "The diagram could not be shown: " + error.message; });
}());
