// The unread count in the tab title: "(3) #general · chatsite". Each page part reports its own count.

const base = document.title;
const counts = new Map();

export function setTitleCount(source, count) {
  counts.set(source, Math.max(0, count));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  document.title = total ? `(${total > 99 ? "99+" : total}) ${base}` : base;
}
