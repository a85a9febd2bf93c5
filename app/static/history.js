// The history stepper: moves through a case's journal on its own version's bpmn-js diagram,
// marking the elements completed, active and overdue after each entry (computed on the server
// from the journal, see app/audit/timeline.py), with the case's data and a state system's answer.
(function () {
  const box = document.getElementById("diagram");
  const source = document.getElementById("timeline-data");
  if (!box || !source || !window.BpmnJS) { return; }
  const model = JSON.parse(source.textContent);
  const viewer = new window.BpmnJS({ container: box });
  const range = document.getElementById("step-range");
  const follow = document.getElementById("follow");
  const picker = document.getElementById("process");
  const status = document.getElementById("diagram-status");
  const entries = document.querySelectorAll("ol.steps > li");
  const MARKS = ["completed", "active", "overdue"];
  const processes = new Set(Array.from(picker.options, (option) => option.value));
  let shown = null;
  let index = model.steps.length - 1;
  let loading = Promise.resolve();

  function show(process) {
    if (process === shown) { return Promise.resolve(); }
    shown = process;
    picker.value = process;
    box.dataset.rendered = "false";
    return fetch(box.dataset.src + encodeURIComponent(process) + ".bpmn", { credentials: "same-origin" })
      .then((answer) => {
        if (!answer.ok) { throw new Error("the diagram answered " + answer.status); }
        return answer.text();
      })
      .then((xml) => viewer.importXML(xml))
      .then(() => { viewer.get("canvas").zoom("fit-viewport"); box.dataset.rendered = "true"; })
      .catch((error) => { status.textContent = "The diagram could not be shown: " + error.message; });
  }

  function mark(state) {
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    registry.getAll().forEach((element) => {
      MARKS.forEach((name) => canvas.removeMarker(element, "step-" + name));
    });
    const counts = { completed: 0, active: 0, overdue: 0 };
    [shown, "*"].forEach((process) => {
      const marks = state.markers[process];
      if (!marks) { return; }
      MARKS.forEach((name) => marks[name].forEach((id) => {
        if (registry.get(id)) { canvas.addMarker(id, "step-" + name); counts[name] += 1; }
      }));
    });
    MARKS.forEach((name) => { box.dataset[name] = String(counts[name]); });
  }

  const LONG = 120;  // characters of a value shown before "…"

  function text(value) {
    if (value && typeof value === "object") {
      return value.redacted ? "hidden (sha256 " + String(value.sha256).slice(0, 16) + ")" : JSON.stringify(value);
    }
    return String(value);
  }

  function showData(data) {
    const list = document.getElementById("step-data");
    list.replaceChildren();
    if (!data) {
      list.textContent = "Not known at this entry: the journal and the re-run diverged before it.";
      return;
    }
    Object.keys(data).sort().filter((key) => key !== "actors" && key !== "assignments").forEach((key) => {
      const term = document.createElement("dt");
      term.textContent = model.labels[key] || key;
      const value = document.createElement("dd");
      const shown = text(data[key]);
      if (shown.length > LONG) {  // a signed document: its start, the whole on demand
        const more = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = shown.slice(0, LONG) + "…";
        const whole = document.createElement("pre");
        whole.textContent = shown;
        more.append(summary, whole);
        value.append(more);
      } else {
        value.textContent = shown;
      }
      list.append(term, value);
    });
  }

  function showAnswer(step) {
    const place = document.getElementById("step-answer");
    place.replaceChildren();
    if (step.answer === null || step.answer === undefined) { return; }
    const title = document.createElement("h3");
    title.textContent = "The state system's answer";
    const body = document.createElement("pre");
    body.textContent = JSON.stringify(step.answer, null, 1);
    body.dataset.testid = "step-answer";
    place.append(title, body);
  }

  function go(to) {
    index = Math.max(0, Math.min(model.steps.length - 1, to));
    const step = model.steps[index];
    const state = model.states[step.state];
    range.value = String(index);
    document.getElementById("step-seq").textContent = "#" + step.seq;
    document.getElementById("step-sentence").textContent = step.sentence;
    entries.forEach((entry) => entry.classList.toggle("current", Number(entry.dataset.index) === index));
    entries[index].scrollIntoView({ block: "nearest" });
    showData(state.data);
    showAnswer(step);
    const wanted = follow.checked && processes.has(step.process) ? step.process : (shown || model.main);
    loading = loading.then(() => show(wanted)).then(() => {
      if (index === Number(range.value)) { mark(state); box.dataset.step = String(step.seq); }
    });
  }

  const moves = {
    first: () => 0, prev: () => index - 1, next: () => index + 1, last: () => model.steps.length - 1,
  };
  document.querySelectorAll("[data-move]").forEach((button) => {
    button.addEventListener("click", () => go(moves[button.dataset.move]()));
  });
  range.addEventListener("input", () => go(Number(range.value)));
  picker.addEventListener("change", () => {
    follow.checked = false;
    loading = loading.then(() => show(picker.value)).then(() => mark(model.states[model.steps[index].state]));
  });
  entries.forEach((entry) => entry.addEventListener("click", () => go(Number(entry.dataset.index))));
  document.addEventListener("keydown", (event) => {
    if (event.target === picker || event.target === range || event.altKey || event.ctrlKey) { return; }
    const keys = { ArrowLeft: moves.prev, ArrowRight: moves.next, Home: moves.first, End: moves.last };
    if (keys[event.key]) { event.preventDefault(); go(keys[event.key]()); }
  });
  go(index);
}());
