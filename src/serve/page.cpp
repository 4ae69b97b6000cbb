// The web page of `fathom serve` (GET /): one HTML document with inline CSS,
// JS and SVG; it only talks to the same server's /v1 API.
#include "serve_internal.h"

namespace fathom::serve {

const std::string& page_html() {
  static const std::string page = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fathom</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:64em;padding:0 1em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.2em 0 .4em}
textarea{width:100%;font:inherit;padding:.4em;box-sizing:border-box}
.row{display:flex;gap:1em;flex-wrap:wrap;align-items:center;margin:.5em 0}
button{font:inherit;padding:.35em .9em;cursor:pointer}
#model{color:#666;font-size:.9em}
.bar{display:flex;align-items:center;gap:.5em;margin:.15em 0}
.bar .fill{height:.9em;background:#4a7bd0}
.bar .name{width:9em;text-align:right}
.method{margin:.6em 0;padding:.5em;border:1px solid #ddd;border-radius:4px}
.method h3{font-size:.95em;margin:0 0 .3em}
.tok{display:inline-block;padding:.1em .2em;margin:.1em;border-radius:3px;border:1px solid #eee}
.tok.special{font-style:italic;color:#777}
.meta{font-size:.85em;color:#555}
.error{color:#b00020;white-space:pre-wrap}
mark.changed{background:#ffd54f;padding:0 .15em}
del.removed{color:#999}
#legend svg{vertical-align:middle}
.lookup ol{margin:.3em 0;padding-left:1.6em} .lookup li{margin:.25em 0}
.lookup .lab{font-weight:600;margin-right:.4em} .lookup .num{font-family:monospace;color:#555;margin-right:.4em}
.lookup .txt{color:#333} .cols{display:flex;gap:1.5em;flex-wrap:wrap} .cols>div{flex:1;min-width:20em}
</style></head><body>
<h1>fathom</h1><div id="model">loading the model...</div>
<label for="text">Text</label><textarea id="text" rows="3">the movie was great</textarea>
<div id="pair-box"><label for="text_pair">Second text (optional, for pairs)</label><textarea id="text_pair" rows="2"></textarea></div>
<div class="row" id="methods"></div>
<div class="row"><label>IG steps <input id="steps" type="number" value="50" min="1" style="width:5em"></label>
<label>SmoothGrad samples <input id="samples" type="number" value="10" min="1" style="width:5em"></label>
<button id="explain">Explain</button><button id="hotflip">HotFlip</button><button id="reduce">Input reduction</button>
<button id="knn" hidden>Nearest neighbours</button><button id="influence" hidden>Influence</button></div>
<div id="error" class="error"></div>
<div id="prediction-box" hidden><h2>Prediction: <span id="prediction"></span></h2><div id="probs"></div></div>
<div id="legend" hidden></div>
<div id="heatmaps"></div>
<div id="attack"></div>
<div id="lookup" class="lookup"></div>
<script>
"use strict";
const METHOD_TITLES={"vanilla":"Vanilla gradient (L2 norm)","grad-input":"Gradient \u00d7 input","ig":"Integrated gradients","smoothgrad":"SmoothGrad","loo":"Leave-one-out"};
const $=id=>document.getElementById(id);
function el(tag,attrs,text){const e=document.createElement(tag);for(const k in attrs||{})e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;return e;}
async function api(path,body){
  const r=await fetch(path,body===undefined?{}:{method:"POST",headers:{"Content-Type":"application/json"},body:JSON.stringify(body)});
  const j=await r.json();
  if(!r.ok){const e=j.error||{};throw new Error(r.status+(e.field?" ("+e.field+")":"")+": "+(e.message||"error"));}
  return j;
}
function input(){const b={text:$("text").value};const p=$("text_pair").value;if(p.trim()!=="")b.text_pair=p;return b;}
// Diverging scale: blue = supports the target, red = against it, white = 0.
function colour(v){const a=Math.min(1,Math.abs(v));const c=v>=0?[33,102,172]:[178,24,43];
  const mix=k=>Math.round(255+(c[k]-255)*a);return "rgb("+mix(0)+","+mix(1)+","+mix(2)+")";}
function legend(){
  const box=$("legend");box.hidden=false;box.textContent="";
  const ns="http://www.w3.org/2000/svg";const svg=document.createElementNS(ns,"svg");
  svg.setAttribute("width","260");svg.setAttribute("height","34");svg.setAttribute("id","legend-svg");
  const defs=document.createElementNS(ns,"defs");const g=document.createElementNS(ns,"linearGradient");g.setAttribute("id","scale");
  [[0,"rgb(178,24,43)"],[50,"rgb(255,255,255)"],[100,"rgb(33,102,172)"]].forEach(([o,c])=>{const s=document.createElementNS(ns,"stop");s.setAttribute("offset",o+"%");s.setAttribute("stop-color",c);g.appendChild(s);});
  defs.appendChild(g);svg.appendChild(defs);
  const rect=document.createElementNS(ns,"rect");rect.setAttribute("x","0");rect.setAttribute("y","0");rect.setAttribute("width","260");rect.setAttribute("height","14");rect.setAttribute("fill","url(#scale)");rect.setAttribute("stroke","#999");svg.appendChild(rect);
  [["-max",0,"start"],["0",130,"middle"],["+max",260,"end"]].forEach(([t,x,a])=>{const e=document.createElementNS(ns,"text");e.setAttribute("x",x);e.setAttribute("y","30");e.setAttribute("font-size","11");e.setAttribute("text-anchor",a);e.textContent=t;svg.appendChild(e);});
  box.appendChild(el("span",{},"Colour scale (per method, scaled by its largest |score|; positive = raises the target's score): "));box.appendChild(svg);
}
function showPrediction(j){
  $("prediction-box").hidden=false;$("prediction").textContent=j.prediction;
  const probs=$("probs");probs.textContent="";
  for(const [label,p] of Object.entries(j.probs)){const row=el("div",{class:"bar"});row.appendChild(el("span",{class:"name"},label));
    const f=el("span",{class:"fill"});f.style.width=(p*20)+"em";row.appendChild(f);row.appendChild(el("span",{},p.toFixed(4)));probs.appendChild(row);}
}
function heatmap(name,r){
  const box=el("div",{class:"method","data-method":name});box.appendChild(el("h3",{},METHOD_TITLES[name]||name));
  const toks=r.tokens;let max=0;for(const t of toks)if(!t.special)max=Math.max(max,Math.abs(t.score));
  const line=el("div",{class:"heatmap"});
  for(const t of toks){const s=el("span",{class:"tok"+(t.special?" special":""),title:"score "+t.score.toPrecision(4)+", normalised "+t.normalized.toFixed(4)},t.text);
    s.style.background=t.special?"#f4f4f4":colour(max>0?t.score/max:0);line.appendChild(s);line.appendChild(document.createTextNode(" "));}
  box.appendChild(line);
  if(r.completeness_gap!==undefined)box.appendChild(el("div",{class:"meta"},"completeness gap "+r.completeness_gap.toExponential(2)+" (F(x) = "+r.objective.toFixed(4)+", F(0) = "+r.baseline_objective.toFixed(4)+")"));
  return box;
}
function selectedMethods(){return [...document.querySelectorAll("#methods input:checked")].map(c=>c.value);}
async function explain(){
  $("error").textContent="";$("heatmaps").textContent="";
  try{
    const b=input();b.methods=selectedMethods();b.steps=parseInt($("steps").value,10);b.samples=parseInt($("samples").value,10);
    const j=await api("/v1/saliency",b);showPrediction(j);legend();
    for(const m of b.methods)$("heatmaps").appendChild(heatmap(m,j.results[m]));
  }catch(e){$("error").textContent=e.message;}
}
function tokenLine(tokens,changed,cls){const d=el("div",{});tokens.forEach((t,i)=>{if(t==="[CLS]"||t==="[SEP]")return;
  const e=changed.has(i)?el(cls==="removed"?"del":"mark",{class:cls},t):el("span",{},t);d.appendChild(e);d.appendChild(document.createTextNode(" "));});return d;}
async function hotflip(){
  $("error").textContent="";const box=$("attack");box.textContent="";
  try{const j=await api("/v1/attack/hotflip",input());box.appendChild(el("h2",{},"HotFlip: "+j.label_before+" \u2192 "+j.label_after+(j.success?" (flipped)":" (not flipped)")));
    const changed=new Set(j.flips.map(f=>f.position));
    box.appendChild(tokenLine(j.tokens_after,changed,"changed"));
    box.appendChild(el("div",{class:"meta",id:"hotflip-text"},"adversarial text: "+j.adversarial_text+(j.adversarial_text_pair?" / "+j.adversarial_text_pair:"")));
  }catch(e){$("error").textContent=e.message;}
}
async function reduce(){
  $("error").textContent="";const box=$("attack");box.textContent="";
  try{const j=await api("/v1/attack/reduce",input());box.appendChild(el("h2",{},"Input reduction: "+j.label+" kept with "+j.reduced_tokens.length+" token(s)"));
    const removed=new Set(j.removed.map(r=>r.position));
    box.appendChild(tokenLine(j.tokens_before,removed,"removed"));
    const path=el("div",{class:"meta"},"confidence: "+[j.confidence_before].concat(j.removed.map(r=>r.confidence)).map(x=>x.toFixed(3)).join(" \u2192 "));box.appendChild(path);
  }catch(e){$("error").textContent=e.message;}
}
// Training rows (neighbours, proponents, opponents) as an ordered list: label, number, text.
function rowList(id,rows,num){const ol=el("ol",{id:id});
  for(const r of rows){const li=el("li",{"data-id":r.id});li.appendChild(el("span",{class:"lab"},r.label===null?"(no label)":r.label));
    li.appendChild(el("span",{class:"num",title:r.id},num(r)));li.appendChild(el("span",{class:"txt"},r.text!==undefined?r.text:r.id));ol.appendChild(li);}
  return ol;}
async function knn(){
  $("error").textContent="";const box=$("lookup");box.textContent="";
  try{const b=input();b.k=10;const j=await api("/v1/knn",b);
    box.appendChild(el("h2",{},"Nearest training examples (prediction "+j.prediction+", conformity "+(j.conformity===null?"n/a":j.conformity.toFixed(2))+")"));
    box.appendChild(rowList("neighbors",j.neighbors,r=>"distance "+r.distance.toPrecision(4)));
  }catch(e){$("error").textContent=e.message;}
}
async function influence(){
  $("error").textContent="";const box=$("lookup");box.textContent="";
  try{const b=input();b.top=10;const j=await api("/v1/influence",b);
    box.appendChild(el("h2",{},"Influence on the loss at "+j.target+" (prediction "+j.prediction+", loss "+j.loss.toFixed(4)+")"));
    const cols=el("div",{class:"cols"});const p=el("div",{});const o=el("div",{});
    p.appendChild(el("h3",{},"Top proponents (support the prediction)"));p.appendChild(rowList("proponents",j.proponents,r=>(r.score>=0?"+":"")+r.score.toExponential(3)));
    o.appendChild(el("h3",{},"Top opponents (oppose it)"));o.appendChild(rowList("opponents",j.opponents,r=>r.score.toExponential(3)));
    cols.appendChild(p);cols.appendChild(o);box.appendChild(cols);
  }catch(e){$("error").textContent=e.message;}
}
async function init(){
  try{const m=await api("/v1/model");
    $("model").textContent=m.architecture+" ("+m.kind+", "+m.tokenizer+" tokenizer), labels: "+m.labels.join(", ");
    $("knn").hidden=!m.knn;$("influence").hidden=!m.influence;
    for(const name of m.methods){const l=el("label",{});const c=el("input",{type:"checkbox",value:name});c.checked=name!=="smoothgrad";l.appendChild(c);l.appendChild(document.createTextNode(" "+(METHOD_TITLES[name]||name)));$("methods").appendChild(l);}
  }catch(e){$("error").textContent=e.message;}
}
$("explain").addEventListener("click",explain);$("hotflip").addEventListener("click",hotflip);$("reduce").addEventListener("click",reduce);
$("knn").addEventListener("click",knn);$("influence").addEventListener("click",influence);
init();
</script></body></html>
)PAGE";
  return page;
}

}  // namespace fathom::serve
