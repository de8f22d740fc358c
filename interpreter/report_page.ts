/**
 * What the parts of `ferry report` share: HTML escaping, the colours of
 * states, a transfer as shown, and the page's style sheet and table script.
 * @module
 */

/** A transfer as the report shows it: from its started and finished events. */
export interface TransferDone {
  readonly id: string;
  readonly direction: "in" | "out";
  readonly url: string;
  readonly provider: string;
  readonly bytes: number;
  readonly ms?: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly reused?: boolean;
  readonly error?: string;
}

/** Text made safe for HTML. */
export const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** The app of a task id: `align[sample=a]` → `align`. */
export function appOfTask(id: string): string {
  const i = id.indexOf("[");
  return i < 0 ? id : id.slice(0, i);
}

/** The colour of each task state and attempt outcome. */
export const COLORS: Readonly<Record<string, string>> = {
  succeeded: "#2e7d32",
  cached: "#90a4ae",
  failed: "#c62828",
  timeout: "#ef6c00",
  cancelled: "#8d6e63",
  crashed: "#6a1b9a",
  running: "#1565c0",
  blocked: "#bdbdbd",
  "not-run": "#e0e0e0",
};

/** The colour of each state of a pilot block, on its lane of the timeline. */
export const BLOCK_COLORS: Readonly<Record<string, string>> = {
  pending: "#cfd8dc",
  idle: "#90caf9",
  running: "#1565c0",
  ending: "#8d6e63",
};

/** A pilot block's states, from its `pilot-block` events, in order. */
export interface BlockStates {
  readonly executor: string;
  readonly block: string;
  readonly states: readonly { readonly time: number; readonly state: string }[];
}

/** The page's style sheet. */
export const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 40px;color:#212121}
h1{font-size:20px;margin:16px 0 4px}h1 small,h2 small{color:#757575;font-weight:normal;font-size:13px}
h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}dt{color:#757575}dd{margin:0}
.pill{color:#fff;border-radius:8px;padding:0 6px;font-size:12px}
.status{display:inline-block;font-weight:bold;padding:2px 8px;border-radius:4px;background:#eceff1}
.status-failed,.status-crashed{background:#ffebee;color:#b71c1c}.status-succeeded{background:#e8f5e9;color:#1b5e20}
nav{margin:8px 0}svg{max-width:100%;height:auto;overflow:visible}
.dag-box{fill:#fafafa;stroke:#90a4ae}.dag-edge{fill:none;stroke:#607d8b;stroke-width:1.5}
.dag-node text,.timeline text,.usage-plot text{font-size:12px}.usage-title{font-weight:bold}
.usage-dot{fill:#1565c0;fill-opacity:.55}.usage-box rect{fill:#bbdefb;stroke:#1565c0}.usage-box line{stroke:#1565c0;stroke-width:2}.over-request code{font-weight:bold}.tl-tick{stroke:#eeeeee}.tl-lane{fill:#616161}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eeeeee;text-align:left}
th{cursor:pointer;user-select:none;background:#fafafa;position:sticky;top:0}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.failure{border-left:4px solid #c62828;padding:2px 12px;margin:10px 0;background:#fff8f8}
.failure pre{background:#263238;color:#eceff1;padding:8px;overflow:auto;max-height:320px}
.empty{color:#757575}footer{margin-top:32px;color:#9e9e9e;font-size:12px}
`;

/** The page's script: draws the task table a page at a time and sorts it. */
export const SORT_JS = `
(function(){
  var table=document.getElementById("task-table");if(!table)return;
  var data=JSON.parse(document.getElementById("task-data").textContent);
  var rows=data.rows,colors=data.colors,PAGE=500,page=0;
  var body=table.tBodies[0],pager=document.getElementById("task-pager");
  var heads=table.querySelectorAll("th");
  function cell(tr,text,v){var td=document.createElement("td");td.textContent=text;
    td.setAttribute("data-v",v===null||v===undefined?"":String(v));tr.appendChild(td);return td;}
  function draw(){
    var f=document.createDocumentFragment(),end=Math.min(rows.length,(page+1)*PAGE);
    for(var i=page*PAGE;i<end;i++){var r=rows[i],tr=document.createElement("tr");
      cell(tr,r[0],r[0]);cell(tr,r[1],r[1]);cell(tr,r[2],r[2]);
      var st=cell(tr,r[3],r[3]),dot=document.createElement("span");dot.className="dot";
      dot.style.background=colors[r[3]]||"#999";st.insertBefore(dot,st.firstChild);
      cell(tr,r[10],r[4]===null?-1:r[4]);cell(tr,String(r[5]),r[5]);
      cell(tr,r[6]===null?"":String(r[6]),r[6]);cell(tr,r[7],r[7]);cell(tr,r[8],r[8]);cell(tr,r[9],r[9]);
      f.appendChild(tr);}
    body.textContent="";body.appendChild(f);
    var pages=Math.ceil(rows.length/PAGE);pager.textContent="";
    if(pages>1){pager.appendChild(document.createTextNode("rows "+(page*PAGE+1)+"–"+end+" of "+rows.length+" "));
      [["‹ previous",page-1],["next ›",page+1]].forEach(function(b){var btn=document.createElement("button");
        btn.textContent=b[0];btn.disabled=b[1]<0||b[1]>=pages;
        btn.addEventListener("click",function(){page=b[1];draw();});pager.appendChild(btn);});}
  }
  function sortBy(i,type,dir){
    rows.sort(function(a,b){var x=a[i],y=b[i];
      if(type==="num"){x=typeof x==="number"?x:-1;y=typeof y==="number"?y:-1;return dir*(x-y);}
      return dir*String(x).localeCompare(String(y));});
    page=0;draw();
  }
  heads.forEach(function(th,i){
    function go(){var dir=th.classList.contains("asc")?-1:1;
      heads.forEach(function(h){h.classList.remove("asc","desc")});
      th.classList.add(dir===1?"asc":"desc");sortBy(i,th.getAttribute("data-type"),dir);}
    th.addEventListener("click",go);
    th.addEventListener("keydown",function(e){if(e.key==="Enter")go();});
  });
  draw();
})();
`;
