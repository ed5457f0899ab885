let sel = "depth { pending }";
for (let i = 0; i < 4; i++) sel = `queues { scope { ${sel} } }`;
const query = `query($s: ID!) { ${Array.from({ length: 2 }, (_, i) => `a${i}: scope(id: $s) { ${sel} }`).join(" ")} }`;
console.log(query);
