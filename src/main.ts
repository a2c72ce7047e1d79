import './ui/lab-app';

// A file dropped outside the corpus drop zone would make the browser open it and leave the lab.
for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (e) => e.preventDefault());
